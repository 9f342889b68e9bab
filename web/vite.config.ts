import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The dev server proxies the admin API, so the console runs with hot reload against a started isogate
// (`npm start` in another terminal; ISOGATE_ADMIN_PORT when it is not 9180).
const adminTarget = `http://127.0.0.1:${process.env.ISOGATE_ADMIN_PORT ?? '9180'}`;

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy: { '/admin': { target: adminTarget } },
  },
  preview: {
    host: '127.0.0.1',
    proxy: { '/admin': { target: adminTarget } },
  },
});
