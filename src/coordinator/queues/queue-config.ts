// The named queues a coordinator serves and their multi-queue fairness settings (reference §6.6, §7.3).

export interface QueueConfig {
  name: string;
  /** Weight of the weighted random choice between queues (batches 4, codeintel 1 in the original). */
  weight: number;
  /** Dequeues within the window after which a queue yields to the others (batches 50, codeintel 250). */
  limit: number;
}

const DEFAULTS: Record<string, Omit<QueueConfig, 'name'>> = {
  batches: { weight: 4, limit: 50 },
  codeintel: { weight: 1, limit: 250 },
};

/** Parses `name[:weight[:limit]]` entries separated by commas. */
export function parseQueueSpecs(spec: string): QueueConfig[] {
  const queues: QueueConfig[] = [];
  for (const entry of spec.split(',').map((e) => e.trim()).filter(Boolean)) {
    const [name = '', weight, limit] = entry.split(':');
    if (!/^[a-z][a-z0-9_]{0,62}$/.test(name)) throw new Error(`queue name ${JSON.stringify(name)}: expected lowercase letters, digits and _ (e.g. batches)`);
    if (queues.some((q) => q.name === name)) throw new Error(`queue ${name} is listed twice`);
    const fallback = DEFAULTS[name] ?? { weight: 1, limit: 50 };
    const num = (raw: string | undefined, def: number, what: string) => {
      if (raw === undefined || raw === '') return def;
      if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`queue ${name}: ${what} ${JSON.stringify(raw)} must be a positive integer`);
      return Number(raw);
    };
    queues.push({ name, weight: num(weight, fallback.weight, 'weight'), limit: num(limit, fallback.limit, 'limit') });
  }
  if (queues.length === 0) throw new Error('at least one queue is needed, e.g. batches,codeintel');
  return queues;
}
