// The roots authority as the extension builds it: the thumbnail cache plus the dataset roots the
// workspace store registered (the curation service's catalogue).
import { ResourceRoots } from '../../src/extension/roots.js';

export function storeRoots(svc: { catalogue(): { datasetRoots: string[] } }, thumbDir: string): ResourceRoots {
  const roots = new ResourceRoots([thumbDir]);
  roots.setDatasetRoots(svc.catalogue().datasetRoots);
  return roots;
}
