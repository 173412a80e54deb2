// `kefer labels`: the audit log of label changes, and export of corrected label files.
import { parseArgs } from 'node:util';
import { CANONICAL_CLASSES } from '../classes.js';
import { EXPORT_FORMATS, exportLabels, labelLog, type ExportFormat } from '../store/index.js';
import { UserError } from './errors.js';
import { describeChange } from './relabel.js';
import { cliDataset, openCliStore, runCommand, STORE_OPTIONS } from './store.js';

export const summary = 'label change log and export of corrected label files';

const USAGE = `usage: kefer labels log [--sample ID] [--limit N] [--json]
       kefer labels export --format ${EXPORT_FORMATS.join('|')} OUT [--copy] [--keep-excluded] [--force]
global: --store PATH (default .kefer/kefer.db)  --data SPEC (needed when the store has several datasets)
export writes a corrected copy into the directory OUT (never inside the dataset root); samples marked
exclude are left out unless --keep-excluded; folder format symlinks images unless --copy.`;

export async function run(argv: string[]): Promise<number> {
  return runCommand(USAGE, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...STORE_OPTIONS,
        sample: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
        format: { type: 'string' },
        copy: { type: 'boolean' },
        'keep-excluded': { type: 'boolean' },
        force: { type: 'boolean' },
      },
    });
    const [sub, ...rest] = positionals;
    if (values.help || !sub) {
      console.log(USAGE);
      return values.help ? 0 : 2;
    }
    if (sub !== 'log' && sub !== 'export') throw new UserError(`unknown subcommand 'labels ${sub}' (log, export)`);
    const store = openCliStore(values.store);
    try {
      const d = await cliDataset(store, values.data);
      if (sub === 'log') {
        if (rest.length) throw new UserError('labels log takes no positional arguments');
        const limit = values.limit === undefined ? undefined : Number(values.limit);
        if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new UserError(`--limit ${values.limit} is not a positive integer`);
        const log = labelLog(store, { dataset: d.id, sample: values.sample, limit });
        if (values.json) {
          for (const c of log) {
            const names = c.kind === 'label' ? { oldLabel: CANONICAL_CLASSES[c.oldValue], newLabel: CANONICAL_CLASSES[c.newValue] } : {};
            console.log(JSON.stringify({ ...c, ...names }));
          }
        } else {
          for (const c of log) {
            const state = c.state === 'applied' ? '' : ` [${c.state}]`;
            console.log(`${c.time}  ${c.author}  ${describeChange(c)}${state}${c.run ? ` (run ${c.run})` : ''}${c.note ? `  "${c.note}"` : ''}`);
          }
          if (log.length === 0) console.log('no label changes');
        }
        return 0;
      }
      if (rest.length !== 1) throw new UserError(`usage: kefer labels export --format ${EXPORT_FORMATS.join('|')} OUT`);
      const format = values.format as ExportFormat | undefined;
      if (!format || !EXPORT_FORMATS.includes(format)) throw new UserError(`--format must be one of ${EXPORT_FORMATS.join(', ')}`);
      const res = exportLabels(store, d.id, { format, out: rest[0], copy: values.copy, keepExcluded: values['keep-excluded'], force: values.force });
      console.log(
        `wrote ${res.samples} samples (${res.relabeled} relabeled, ${res.excluded} excluded left out) to ${rest[0]}` +
          (format === 'folder' ? ` as ${values.copy ? 'copies' : 'symlinks'}` : `: ${res.files.length} file(s)`) +
          (res.sources.length ? `; derived from ${res.sources.join(', ')}` : ''),
      );
      // readers refuse links that leave a dataset's root unless the spec allows them
      if (format === 'folder' && !values.copy) console.log(`read it back as folder:${rest[0]}?symlinks=follow (or export with --copy)`);
      return 0;
    } finally {
      store.close();
    }
  });
}
