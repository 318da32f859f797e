/**
 * Entry point of `sysext-agent` (bin/sysext-agent.js, the bundle of the agent's own image).
 * A poll that the last quiet run's record answers (src/poll/answer.ts) ends here, having
 * loaded nothing but Node's builtins and a few small modules; every other run loads the
 * command line and the rest of the agent (./program.ts). The bundler keeps a module behind a
 * dynamic import() unevaluated until it is imported (docs/performance.md).
 */
import { answerFromRecord } from '../poll/answer.ts';

const argv = process.argv.slice(2);
const answered = await answerFromRecord(argv);
if (answered !== null) process.exitCode = answered;
else {
  const { main } = await import('./program.ts');
  process.exitCode = await main(argv);
}
