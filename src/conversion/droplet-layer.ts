import type { LayerDescriptor } from './layer-descriptor.ts';

/** One layer of a converted droplet; a droplet's layers go bottom → top. */
export interface DropletLayer extends LayerDescriptor {
  /** 'deps': what buildpack `depsIndex` supplied (deps/<depsIndex>/); 'app': everything else. */
  readonly role: 'deps' | 'app';
  readonly depsIndex?: string;
}
