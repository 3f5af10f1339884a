// Module resolution hook for running the TypeScript sources without a build: workspace packages export their
// `src/index.ts` under the `source` condition.
export const resolve = (specifier, context, nextResolve) =>
  nextResolve(specifier, { ...context, conditions: [...context.conditions, 'source'] })
