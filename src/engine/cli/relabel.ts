// `kefer relabel`: change a sample's label through the overlay (original label files untouched),
// undo/redo (one persisted stack per dataset), exclude/unsure marks, confirmations, and spot-check
// decisions (made reviewing the spot-check order: they calibrate the issue ranking, store/spotCheck.ts).
import { parseArgs } from 'node:util';
import { CANONICAL_CLASSES } from '../classes.js';
import { confirmLabel, redo, relabel, setMark, undo, type LabelChange } from '../store/index.js';
import { UserError } from './errors.js';
import { cliDataset, openCliStore, parseLabel, runCommand, STORE_OPTIONS } from './store.js';

export const summary = 'relabel a sample (overlay, undo/redo, exclude/unsure marks, confirmations, spot-check decisions)';

const USAGE = `usage: kefer relabel SAMPLE_ID LABEL [--note TEXT] [--run RUN] [--spot-check]
       kefer relabel --undo | --redo
       kefer relabel --exclude SAMPLE_ID | --unsure SAMPLE_ID | --confirm SAMPLE_ID [--off] [--spot-check]
global: --store PATH (default .kefer/kefer.db)  --data SPEC (needed when the store has several datasets)
LABEL is a class name (happiness, happy, ...) or a canonical index (0 surprise .. 7 contempt).
--confirm: the sample's label is right. --spot-check: the decision was made reviewing the spot-check
order (a random sample of the run): such decisions calibrate the issue ranking.`;

export function describeChange(c: LabelChange): string {
  const v = (x: number) => (c.kind === 'label' ? (CANONICAL_CLASSES[x] ?? String(x)) : x ? 'on' : 'off');
  const what = c.kind === 'label' ? `${v(c.oldValue)} -> ${v(c.newValue)}` : `${c.kind} ${v(c.oldValue)} -> ${v(c.newValue)}`;
  return `#${c.id} ${c.sampleId}: ${what}${c.spotCheck ? ' (spot-check)' : ''}`;
}

export async function run(argv: string[]): Promise<number> {
  return runCommand(USAGE, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...STORE_OPTIONS,
        note: { type: 'string' },
        run: { type: 'string' },
        undo: { type: 'boolean' },
        redo: { type: 'boolean' },
        exclude: { type: 'boolean' },
        unsure: { type: 'boolean' },
        confirm: { type: 'boolean' },
        off: { type: 'boolean' },
        'spot-check': { type: 'boolean' },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const modes = [values.undo, values.redo, values.exclude, values.unsure, values.confirm].filter(Boolean).length;
    if (modes > 1) throw new UserError('pick one of --undo, --redo, --exclude, --unsure, --confirm');
    if (values['spot-check'] && (values.undo || values.redo)) throw new UserError('--spot-check marks a decision; --undo and --redo take none');
    const opts = { note: values.note, runId: values.run, spotCheck: values['spot-check'] === true };
    const store = openCliStore(values.store, { create: false });
    try {
      const d = await cliDataset(store, values.data);
      if (values.undo || values.redo) {
        if (positionals.length) throw new UserError(`--${values.undo ? 'undo' : 'redo'} takes no arguments`);
        const c = values.undo ? undo(store, d.id) : redo(store, d.id);
        if (!c) {
          console.log(`nothing to ${values.undo ? 'undo' : 'redo'}`);
          return 0;
        }
        console.log(`${values.undo ? 'undid' : 'redid'} ${describeChange(c)}`);
        return 0;
      }
      if (values.exclude || values.unsure || values.confirm) {
        const mark = values.exclude ? 'exclude' : values.unsure ? 'unsure' : 'confirm';
        if (positionals.length !== 1) throw new UserError(`usage: kefer relabel --${mark} SAMPLE_ID [--off] [--spot-check]`);
        const key = { dataset: d.id, id: positionals[0] };
        // a confirmation repeated is a decision of its own (confirmLabel); --off clears the mark
        const c = mark === 'confirm' && !values.off ? confirmLabel(store, key, opts) : setMark(store, key, mark, !values.off, opts);
        console.log(describeChange(c));
        return 0;
      }
      if (positionals.length !== 2) {
        console.error(USAGE);
        return 2;
      }
      const [id, labelText] = positionals;
      const c = relabel(store, { dataset: d.id, id }, parseLabel(labelText, d), opts);
      console.log(`${describeChange(c)} (by ${c.author})`);
      return 0;
    } finally {
      store.close();
    }
  });
}
