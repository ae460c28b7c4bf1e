import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";

// The built console goes where the API serves it from (appliance/web: index.html and
// assets/); `make run` rebuilds it when these sources change.
export default defineConfig({
  plugins: [vue()],
  build: {
    outDir: "../appliance/web",
    emptyOutDir: false,
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: { "/graphql": "http://127.0.0.1:8080", "/api": "http://127.0.0.1:8080" },
  },
});
