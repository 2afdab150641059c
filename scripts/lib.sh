# Shared set-up steps for scripts/run and scripts/test (sourced, not run).
# Each step checks first and only installs what is missing.

RUANG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RUANG_VENV:-$RUANG_ROOT/.venv}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
warn() { printf '\033[33mwarning: %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31merror: %s\033[0m\n' "$*" >&2; exit 1; }
in_ci() { case "${CI:-}" in true|1|yes) return 0;; *) return 1;; esac; }

# Run a command as root when we are root or may sudo without a password; else fail.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}

APT_UPDATED=""
apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ -z "$APT_UPDATED" ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

find_python() {
  for py in python3.13 python3.12 python3.11 python3; do
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$py"; return 0
    fi
  done
  return 1
}

ensure_venv() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    return 0
  fi
  local py
  py="$(find_python)" || die "Python 3.11 or newer is needed (Debian/Ubuntu: apt-get install python3)"
  say "creating a virtual environment in $VENV ($("$py" --version))"
  if ! "$py" -m venv "$VENV" 2>/dev/null; then
    local ver; ver="$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    say "installing python$ver-venv"
    apt_install "python$ver-venv" || apt_install python3-venv ||
      die "cannot create a virtual environment: install python3-venv"
    rm -rf "$VENV"; "$py" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip
}

# Install the package (editable) when it or its dependencies changed since the last install.
ensure_package() {
  local extras="$1"
  local stamp="$VENV/.ruang-installed$extras"
  local sum; sum="$(sha256sum < "$RUANG_ROOT/pyproject.toml" | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && "$VENV/bin/python" -c 'import ruang' 2>/dev/null; then
    return 0
  fi
  say "installing Ruang and its dependencies into $VENV"
  "$VENV/bin/python" -m pip install -q -e "$RUANG_ROOT$extras"
  echo "$sum" > "$stamp"
}

# Janus from Debian's package, unless an external Janus is configured.
ensure_janus() {
  local required="$1"
  [ -n "${RUANG_JANUS_URL:-}" ] && return 0
  command -v janus >/dev/null 2>&1 && return 0
  say "installing the Janus media server (apt-get install janus)"
  if apt_install janus; then
    # Debian's package may start its own janus.service on ports 8088/8188; Ruang runs its own.
    as_root systemctl disable --now janus.service >/dev/null 2>&1 || true
    return 0
  fi
  if [ "$required" = required ]; then
    die "Janus is required but could not be installed: run 'sudo apt-get install janus'"
  fi
  warn "Janus is not installed and could not be installed here (need root or sudo):"
  warn "  sudo apt-get install janus"
  warn "Ruang will run without audio until then."
}

# Debian's chromium for the browser tests: Playwright (a Python dev dependency) drives this
# binary; Playwright's own browser downloads are never used. Fonts make the screenshots
# readable (Liberation for text, Noto for emoji).
ensure_browser() {
  local required="$1" missing=()
  if [ -n "${RUANG_CHROMIUM:-}" ]; then
    [ -x "$RUANG_CHROMIUM" ] || die "RUANG_CHROMIUM=$RUANG_CHROMIUM is not an executable"
  elif ! [ -x /usr/bin/chromium ] && ! command -v chromium >/dev/null 2>&1; then
    missing+=(chromium)
  fi
  if command -v dpkg-query >/dev/null 2>&1; then
    for pkg in fonts-liberation fonts-noto-color-emoji; do
      dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} for the browser tests (apt-get install)"
  apt_install --no-install-recommends "${missing[@]}" && return 0
  if [ "$required" = required ] && [[ " ${missing[*]} " == *" chromium "* ]]; then
    die "chromium is required but could not be installed: run 'sudo apt-get install chromium'"
  fi
  warn "could not install ${missing[*]} here (need root or sudo):"
  warn "  sudo apt-get install ${missing[*]}"
  [[ " ${missing[*]} " == *" chromium "* ]] && warn "the browser tests will be skipped until then."
  return 0
}

# The web app (web/): Node dependencies when package-lock.json changed (a stamp in
# node_modules), and a build when its sources changed (a hash of web/src and the build files,
# kept in web/dist/.build-stamp). Node.js 20.19+ and npm come from Debian when missing.
web_sources_hash() {
  (cd "$RUANG_ROOT/web" &&
    find src public sw scripts index.html vite.config.ts tsconfig.json package.json package-lock.json \
      -type f ! -name '*.png' -print0 2>/dev/null | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

ensure_node() {
  node_ok() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
      node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'
  }
  node_ok && return 0
  say "installing Node.js and npm (apt-get install nodejs npm) for the web app"
  apt_install nodejs npm || true
  node_ok || die "the web app needs Node.js 20.19 or newer and npm: install them (Debian/Ubuntu: sudo apt-get install nodejs npm), then run this again"
}

ensure_web() {
  local web="$RUANG_ROOT/web"
  [ -f "$web/package.json" ] || return 0
  ensure_node
  local lock; lock="$(sha256sum < "$web/package-lock.json" | cut -c1-16)"
  if [ ! -f "$web/node_modules/.ruang-installed" ] || [ "$(cat "$web/node_modules/.ruang-installed")" != "$lock" ]; then
    say "installing the web app's packages (npm ci)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in web/"
    echo "$lock" > "$web/node_modules/.ruang-installed"
  fi
  local sum; sum="$(web_sources_hash)"
  if [ -f "$web/dist/index.html" ] && [ -f "$web/dist/.build-stamp" ] && [ "$(cat "$web/dist/.build-stamp")" = "$sum" ]; then
    return 0
  fi
  say "building the web app (npm run build)"
  (cd "$web" && npm run build --silent) || die "the web app's build failed (cd web && npm run build)"
  echo "$sum" > "$web/dist/.build-stamp"
}
