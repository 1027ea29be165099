// The lines a guest's `/init` prints for the host to find — on the serial console (the one-command guest,
// init errors) or the agent's control port — each carrying a nonce from the kernel command line, so a line
// the kernel or a command happens to print is not taken for one.

/** `EXECUTOR-READY <nonce>`: the guest is ready (the command is about to start, or the agent takes steps). */
export const READY_MARKER = 'EXECUTOR-READY';
/** `EXECUTOR-EXIT <nonce> <code>`: the one command ended. */
export const EXIT_MARKER = 'EXECUTOR-EXIT';
/** `EXECUTOR-INIT-ERROR <nonce> <message>` on the console: the guest cannot go on, and powers off. */
export const INIT_ERROR_MARKER = 'EXECUTOR-INIT-ERROR';
/** Kernel command-line parameter: the nonce. */
export const CMDLINE_NONCE = 'executor.nonce';
