// `scripts/chart-facts.mjs`: tools for the per-chart facts files.
//   extract <chart dir> [--release NAME] [--repo o/n --tag T --commit C --path P --repo-url URL]
//     prints a draft facts file (YAML) with what can be read mechanically, TODOs for the rest
//   check   validates every facts file under lib/gitops/chart-facts/
import { existsSync } from 'node:fs';
import { parseFlags, UsageError } from './args.ts';
import { draftFactsYaml, extractChart } from '../lib/gitops/chart-facts/extract.ts';
import { allChartFacts } from '../lib/gitops/chart-facts/load.ts';

const USAGE = `usage: scripts/chart-facts.mjs extract <chart dir> [options] | check

  extract  print a draft facts file for the chart directory (checked out at the pinned tag)
  check    validate every lib/gitops/chart-facts/*.yaml

extract options:
      --release NAME   release name: the draft says what {release}/{fullname} become
      --chart-version V, --app-version V   when Chart.yaml is a template filled in by the release build
      --repo OWNER/NAME, --tag TAG, --commit SHA, --path DIR, --repo-url URL   provenance to fill in
  -h, --help`;

export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    const { values, positionals } = parseFlags(
      rest,
      {
        release: { type: 'string' },
        repo: { type: 'string' },
        tag: { type: 'string' },
        commit: { type: 'string' },
        path: { type: 'string' },
        'repo-url': { type: 'string' },
        'chart-version': { type: 'string' },
        'app-version': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      true,
    );
    if (values.help || command === '-h' || command === '--help') {
      console.log(USAGE);
      return 0;
    }
    if (command === 'check') {
      const all = allChartFacts();
      console.log(`${all.length} chart facts files valid`);
      return 0;
    }
    if (command !== 'extract') throw new UsageError(`unknown command ${command ?? '(none)'}`);
    const dir = positionals[0];
    if (!dir || positionals.length > 1) throw new UsageError('extract takes exactly one chart directory');
    if (!existsSync(dir)) throw new UsageError(`${dir}: no such directory`);
    const x = extractChart(dir, { version: values['chart-version'], appVersion: values['app-version'] });
    process.stdout.write(
      draftFactsYaml(x, {
        release: values.release,
        repo: values.repo,
        tag: values.tag,
        commit: values.commit,
        path: values.path,
        repoURL: values['repo-url'],
      }),
    );
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n\n${USAGE}`);
      return 1;
    }
    console.error((err as Error).message);
    return 1;
  }
}
