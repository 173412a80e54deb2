// Entry point of the `kefer` CLI: dispatches to one module per command.
import { COMMANDS } from './commands.js';
import { formatError } from './errors.js';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    const lines = ['usage: kefer <command> [options]', '', 'commands:'];
    for (const [cmd, load] of Object.entries(COMMANDS)) {
      const mod = await load();
      lines.push(`  ${cmd.padEnd(14)} ${mod.summary}`);
    }
    lines.push('', 'Run `kefer <command> --help` for its options.');
    console.log(lines.join('\n'));
    return name ? 0 : 1;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`kefer: unknown command '${name}'. Run 'kefer help'.`);
    return 2;
  }
  const mod = await load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`kefer: ${formatError(err)}`);
    // an error may carry its own code (a training pre-flight whose dataset could not be read: 3, as data check)
    const code = (err as { exitCode?: unknown } | null)?.exitCode;
    process.exitCode = typeof code === 'number' ? code : 1;
  },
);
