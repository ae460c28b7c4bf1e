import { createApp } from "vue";
import "element-plus/dist/index.css";
import "./style.css";
import App from "./App.vue";
import { i18n } from "./i18n";
import { router } from "./router";
import { whenSignedOut } from "./api/gql";
import { session } from "./session";

whenSignedOut(() => {
  session.me = null;
  if (router.currentRoute.value.name !== "login") void router.push({ name: "login" });
});

document.documentElement.lang = i18n.global.locale.value;
createApp(App).use(i18n).use(router).mount("#app");
