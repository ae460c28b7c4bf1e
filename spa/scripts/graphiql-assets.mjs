// GraphiQL's built files, copied next to the console so the appliance serves them itself
// (at /graphiql/) instead of pulling them from a CDN: a strict CSP, and offline sites.
import { copyFileSync, mkdirSync } from "node:fs";

const target = "../appliance/web/graphiql";
const files = {
  "react.production.min.js": "node_modules/react/umd/react.production.min.js",
  "react-dom.production.min.js": "node_modules/react-dom/umd/react-dom.production.min.js",
  "graphiql.min.js": "node_modules/graphiql/graphiql.min.js",
  "graphiql.min.css": "node_modules/graphiql/graphiql.min.css",
};
mkdirSync(target, { recursive: true });
for (const [name, source] of Object.entries(files)) copyFileSync(source, `${target}/${name}`);
