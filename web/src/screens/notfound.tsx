import { t } from "../i18n";
import { Screen } from "../components/ui";

export function NotFound() {
  return (
    <Screen name="not-found" title={t("notfound.title")}>
      <h1>{t("notfound.title")}</h1>
      <p>{t("notfound.body")}</p>
      <p>
        <a class="btn" href="/">{t("nav.hallway")}</a>
      </p>
    </Screen>
  );
}
