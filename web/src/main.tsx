import { render } from "preact";
import "./styles.css";
import { App } from "./app";
import { lang } from "./i18n";
import { startRouter } from "./lib/router";
import { applyTheme } from "./lib/theme";
import { loadMe } from "./lib/session";

applyTheme();
document.documentElement.lang = lang.value;
startRouter();
void loadMe();
render(<App />, document.getElementById("app")!);

// The service worker caches the app shell (never the API) and shows an offline page.
if ("serviceWorker" in navigator && import.meta.env.PROD) {
  addEventListener("load", () => void navigator.serviceWorker.register("/sw.js").catch(() => {}));
}
