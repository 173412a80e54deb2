export { createEncoder, countParams, BACKBONES, type BackboneName, type Encoder } from './encoders.js';
export { createTransform, type Transform } from './transform.js';
export type { ParamStore } from './layers.js';
