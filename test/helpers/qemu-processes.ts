// Finding QEMU processes by what their command line holds (a VM's name or run directory), so tests can
// assert that no VM outlives a job, a cancel or a killed executor.
import fs from 'node:fs/promises';

/** PIDs of live QEMU processes whose command line mentions `needle`. */
export async function qemuProcessesWith(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('qemu-system') && cmdline.includes(needle)) pids.push(Number(entry));
  }
  return pids;
}
