// Test-only piscina worker: answers every task with this thread's execArgv (as the message).
export default function reportExecArgv(batch) {
  return batch.tasks.map(() => ({ ok: false, code: 'internal', message: JSON.stringify(process.execArgv) }));
}
