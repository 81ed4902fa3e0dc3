import type { Handler } from '../../lib/runner/types.ts';
import { serviceHandler } from '../../lib/blocks/index.ts';

export const baseHandlers: Handler[] = [serviceHandler('restart timesyncd', 'systemd-timesyncd', 'restart')];
