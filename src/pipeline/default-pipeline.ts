import { Pipeline } from './pipeline.js';
import type { PipelineStage } from './stage.js';
import { BUILTIN_STAGE_NAMES, SETUP_STAGE_NAMES, type BuiltinStageName } from './stage-names.js';
import { CodeStage } from './stages/code-stage.js';
import { DecomposeStage } from './stages/decompose-stage.js';
import { IndexStage } from './stages/index-stage.js';
import { PlanStage } from './stages/plan-stage.js';
import { ReviewStage } from './stages/review-stage.js';
import { SetupStage } from './stages/setup-stage.js';
import { VerifyStage } from './stages/verify-stage.js';

const FACTORIES: Record<BuiltinStageName, () => PipelineStage> = {
  setup: () => new SetupStage(),
  index: () => new IndexStage(),
  decompose: () => new DecomposeStage(),
  plan: () => new PlanStage(),
  code: () => new CodeStage(),
  verify: () => new VerifyStage(),
  review: () => new ReviewStage(),
};

/** The built-in pipeline with these stages (TELECODER_STAGES), always in their natural order. */
export function defaultPipeline(names: readonly BuiltinStageName[] = BUILTIN_STAGE_NAMES): Pipeline {
  const ordered = BUILTIN_STAGE_NAMES.filter((name) => names.includes(name));
  return new Pipeline({
    setup: ordered.filter((name) => SETUP_STAGE_NAMES.includes(name)).map((name) => FACTORIES[name]()),
    perStep: ordered.filter((name) => !SETUP_STAGE_NAMES.includes(name)).map((name) => FACTORIES[name]()),
  });
}
