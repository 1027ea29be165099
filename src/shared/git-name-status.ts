// `git diff-index --name-status -z` output as the files a change touched: what `src batch-helper` asks git
// after a step, and what the coordinator reads from a result uploaded by the helper's shell form (the raw
// output, base64). No I/O here.

export interface FileChanges {
  modifiedFiles: string[];
  addedFiles: string[];
  deletedFiles: string[];
  renamedFiles: string[];
}

/** Each file under what happened to it (a rename under renamedFiles, a copy under addedFiles, a type change under modifiedFiles). */
export function parseNameStatus(text: string): FileChanges {
  const out: FileChanges = { modifiedFiles: [], addedFiles: [], deletedFiles: [], renamedFiles: [] };
  const fields = text.split('\0');
  for (let i = 0; i < fields.length; ) {
    const status = fields[i++];
    if (!status) continue;
    if (status.startsWith('R') || status.startsWith('C')) {
      i++; // the old name
      const renamed = fields[i++];
      if (renamed === undefined) break;
      (status.startsWith('R') ? out.renamedFiles : out.addedFiles).push(renamed);
      continue;
    }
    const file = fields[i++];
    if (file === undefined) break;
    if (status === 'A') out.addedFiles.push(file);
    else if (status === 'D') out.deletedFiles.push(file);
    else out.modifiedFiles.push(file);
  }
  return out;
}
