import { sweepPacks } from './fixture-project.js'

/** Vitest's globalSetup for this repo's own suite: once every test file is done, no pack is left in the temp folder. */
export default function setup(): () => void {
  return sweepPacks
}
