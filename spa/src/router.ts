import { createRouter, createWebHashHistory } from "vue-router";
import { loadMe, session } from "./session";

// Each page is its own chunk: the login page loads none of the console's pages.
export const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    { path: "/login", name: "login", component: () => import("./views/LoginView.vue"), meta: { public: true } },
    { path: "/password", name: "password", component: () => import("./views/ForcedPasswordView.vue") },
    {
      path: "/",
      component: () => import("./views/ConsoleLayout.vue"),
      children: [
        { path: "", redirect: { name: "recordings" } },
        { path: "recordings", name: "recordings", component: () => import("./views/RecordingsView.vue") },
        { path: "reports", name: "reports", component: () => import("./views/ReportsView.vue") },
        { path: "monitoring", name: "monitoring", component: () => import("./views/MonitoringView.vue"), meta: { admin: true } },
        { path: "backup", name: "backup", component: () => import("./views/BackupView.vue"), meta: { admin: true } },
        { path: "audit", name: "audit", component: () => import("./views/AuditView.vue"), meta: { admin: true } },
        { path: "organization", name: "organization", component: () => import("./views/OrganizationView.vue"), meta: { admin: true } },
        { path: "roles", name: "roles", component: () => import("./views/RolesView.vue"), meta: { admin: true } },
        { path: "settings", name: "settings", component: () => import("./views/SettingsView.vue"), meta: { admin: true } },
      ],
    },
    { path: "/:rest(.*)*", redirect: "/" },
  ],
});

router.beforeEach(async (to) => {
  if (!session.loaded) await loadMe();
  if (to.meta.public) return true;
  if (!session.me) return { name: "login", query: to.fullPath !== "/" ? { next: to.fullPath } : {} };
  if (session.me.mustChangePassword && to.name !== "password") return { name: "password" };
  if (to.meta.admin && !session.me.isAdmin) return { name: "recordings" };
  return true;
});
