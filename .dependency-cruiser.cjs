/** Import rules checked by `npm run lint:cycles` (dependency-cruiser). */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'Modules must not import each other in a circle, type-only imports included: contracts live in modules that import nothing from their users.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'contracts-stand-alone',
      severity: 'error',
      comment:
        'Contracts (the compiled snapshot and router types, the explanation, the model) and the pure balance and access decisions are used by the gateway and the admin API alike, so they import nothing from either.',
      from: {
        path: '^src/(snapshot/(snapshot|router)\\.ts|explain/|model/|balance/decision\\.ts|access/decision\\.ts)',
      },
      to: { path: '^src/(gateway|admin)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a cycle through types still ties the modules together.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
