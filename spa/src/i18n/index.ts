import { createI18n } from "vue-i18n";
import en from "./en";
import zhCN from "./zh-CN";
import zhTW from "./zh-TW";

export const LOCALES = [
  { code: "zh-CN", label: "简体中文" },
  { code: "zh-TW", label: "繁體中文" },
  { code: "en", label: "English" },
] as const;
export type LocaleCode = (typeof LOCALES)[number]["code"];

const STORED = "recorder.locale";

function initial(): LocaleCode {
  const saved = localStorage.getItem(STORED);
  if (LOCALES.some((l) => l.code === saved)) return saved as LocaleCode;
  const browser = navigator.language;
  if (browser.startsWith("zh")) return /TW|HK|Hant/i.test(browser) ? "zh-TW" : "zh-CN";
  return "en";
}

export const i18n = createI18n({
  legacy: false,
  locale: initial(),
  fallbackLocale: "en",
  messages: { en, "zh-CN": zhCN, "zh-TW": zhTW },
  datetimeFormats: Object.fromEntries(
    LOCALES.map((l) => [
      l.code,
      {
        long: {
          year: "numeric",
          month: "2-digit",
          day: "2-digit",
          hour: "2-digit",
          minute: "2-digit",
          second: "2-digit",
          hour12: false,
        },
      },
    ]),
  ),
});

export function setLocale(code: LocaleCode): void {
  i18n.global.locale.value = code;
  localStorage.setItem(STORED, code);
  document.documentElement.lang = code;
}
