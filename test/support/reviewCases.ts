// The stack-file edits the review golden tests use, shared by the unit tier
// (the Markdown itself) and the CLI tier (`npm run review` in a git checkout).
import path from "node:path";
import { GOLDEN_DIR } from "./fixtures";

export const REVIEW_CASES = {
  weight: (s: Record<string, any>) => {
    s.uplinks[0].weight = 3;
  },
  table: (s: Record<string, any>) => {
    s.routing = { tableBase: 110 };
  },
};
export type ReviewCase = keyof typeof REVIEW_CASES;

export const reviewGolden = (name: ReviewCase) => path.join(GOLDEN_DIR, `review.${name}.md`);
