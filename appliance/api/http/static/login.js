"use strict";
const $ = (id) => document.getElementById(id);
const TEXT = {
  "zh-CN": {title: "录音管理系统", user: "用户名", pass: "密码", captcha: "验证码", refresh: "看不清？点击换一张",
    signin: "登录", mustChange: "首次登录请先修改默认密码。", newPass: "新密码", repeat: "确认新密码",
    change: "修改密码", differ: "两次输入的密码不一致。"},
  "zh-TW": {title: "錄音管理系統", user: "使用者名稱", pass: "密碼", captcha: "驗證碼", refresh: "看不清？點擊換一張",
    signin: "登入", mustChange: "首次登入請先修改預設密碼。", newPass: "新密碼", repeat: "確認新密碼",
    change: "修改密碼", differ: "兩次輸入的密碼不一致。"},
  "en": {title: "Call Recorder", user: "User name", pass: "Password", captcha: "Captcha", refresh: "Click for a new image",
    signin: "Sign in", mustChange: "Change the default password before going on.", newPass: "New password",
    repeat: "Repeat the new password", change: "Change password", differ: "The two passwords differ."},
};
let lang = localStorage.getItem("recorder.lang") || (navigator.language.startsWith("zh") ?
  (/TW|HK|Hant/i.test(navigator.language) ? "zh-TW" : "zh-CN") : "en");
function t(key) { return (TEXT[lang] || TEXT.en)[key]; }
function translate() {
  document.documentElement.lang = lang; $("lang").value = lang; document.title = t("title");
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  document.querySelectorAll("[data-t-title]").forEach((el) => { el.title = t(el.dataset.tTitle); });
}
$("lang").addEventListener("change", (e) => { lang = e.target.value; localStorage.setItem("recorder.lang", lang); translate(); });
translate();
let captchaId = null;
async function gql(query, variables) {
  const r = await fetch("/graphql", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({query, variables}), credentials: "same-origin"});
  const body = await r.json();
  if (body.errors) throw new Error(body.errors[0].message);
  return body.data;
}
async function newCaptcha() {
  const data = await gql("{ captcha { id image } }");
  if (data.captcha) { captchaId = data.captcha.id; $("captcha").src = data.captcha.image;
    $("captcha-box").classList.remove("hidden"); $("answer").value = ""; }
}
// Where to go after signing in: only a path on this site. Anything else (another host,
// "//host", "/\\host", "javascript:", percent-encoded variants of these) goes to "/".
function next() {
  const raw = new URLSearchParams(location.search).get("next") || "/";
  let decoded = raw;
  try {
    for (let i = 0; i < 3 && decoded !== decodeURIComponent(decoded); i++) decoded = decodeURIComponent(decoded);
  } catch { return "/"; }
  for (const text of [raw, decoded]) {
    if (!text.startsWith("/") || text.startsWith("//") || text.startsWith("/\\")) return "/";
    if (/[\u0000-\u001f\u007f\\]/.test(text)) return "/";
  }
  const url = new URL(raw, location.origin);
  return url.origin === location.origin ? url.pathname + url.search + url.hash : "/";
}
$("captcha").addEventListener("click", newCaptcha);
$("login").addEventListener("submit", async (e) => {
  e.preventDefault(); $("msg").textContent = "";
  try {
    const data = await gql(`mutation($l: String!, $p: String!, $ci: String, $ca: String) {
      login(login: $l, password: $p, captchaId: $ci, captchaAnswer: $ca) {
        __typename ... on LoginSuccess { user { mustChangePassword } } ... on LoginError { message } } }`,
      {l: $("user").value, p: $("pass").value, ci: captchaId, ca: $("answer").value});
    const res = data.login;
    if (res.__typename === "LoginError") { $("msg").textContent = res.message; await newCaptcha(); return; }
    if (res.user.mustChangePassword) { $("login").classList.add("hidden"); $("change").classList.remove("hidden"); return; }
    location.href = next();
  } catch (err) { $("msg").textContent = err.message; }
});
$("change").addEventListener("submit", async (e) => {
  e.preventDefault(); $("msg").textContent = "";
  if ($("newpass").value !== $("newpass2").value) { $("msg").textContent = t("differ"); return; }
  try {
    const data = await gql(`mutation($o: String!, $n: String!) { changePassword(oldPassword: $o, newPassword: $n) {
      __typename ... on UserError { message } } }`, {o: $("pass").value, n: $("newpass").value});
    if (data.changePassword.__typename === "UserError") { $("msg").textContent = data.changePassword.message; return; }
    location.href = next();
  } catch (err) { $("msg").textContent = err.message; }
});
newCaptcha().catch((err) => { $("msg").textContent = err.message; });
