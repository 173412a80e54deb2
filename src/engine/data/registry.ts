// Format name -> reader. Typed against DATA_FORMATS so a format cannot be listed without a reader.
import type { Reader } from './reader.js';
import { readAffectnet } from './readers/affectnet.js';
import { readCkplus } from './readers/ckplus.js';
import { readFer2013 } from './readers/fer2013.js';
import { readFerplus } from './readers/ferplus.js';
import { readFolder, readSynthetic } from './readers/folder.js';
import { readList } from './readers/list.js';
import { readRafdb } from './readers/rafdb.js';
import type { DataFormat } from './spec.js';

export const READERS: Record<DataFormat, Reader> = {
  ferplus: readFerplus,
  folder: readFolder,
  rafdb: readRafdb,
  fer2013: readFer2013,
  affectnet: readAffectnet,
  ckplus: readCkplus,
  list: readList,
  synthetic: readSynthetic,
};
