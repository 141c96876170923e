import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "dist/",
      "dist-bench/",
      "node_modules/",
      "examples/**/*.py",
      ".data/",
      "coverage/",
      "packages/*/dist/",
      "packages/*/node_modules/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: {
      globals: {
        process: "readonly",
        console: "readonly",
        Buffer: "readonly",
        URL: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        AbortController: "readonly",
        AbortSignal: "readonly",
      },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-properties": [
        "error",
        {
          object: "process",
          property: "env",
          message: "Read settings once in src/settings; nothing else reads process.env.",
        },
      ],
    },
  },
  {
    // packages/lambda-node and the example lambdas are the lambda's side: reading the environment
    // gitfaas gives them is their job.
    files: [
      "src/settings/**",
      "src/cli/**",
      "test/**",
      "test-k8s/**",
      "bench/**",
      "scripts/**",
      "packages/lambda-node/src/**",
      "examples/**",
    ],
    rules: { "no-restricted-properties": "off" },
  },
  {
    // Example lambdas run on Node 24 as they are: its globals are theirs.
    files: ["examples/**/*.mjs"],
    languageOptions: { globals: { fetch: "readonly" } },
  },
  {
    // Tests index into fixtures they built themselves; an assertion failing there is the test failing.
    files: ["test/**", "test-k8s/**", "bench/**"],
    rules: { "@typescript-eslint/no-non-null-assertion": "off" },
  },
);
