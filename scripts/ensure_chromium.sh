#!/usr/bin/env bash
# Browser tests drive Debian's Chromium; install it when we can (root), never a downloaded browser.
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "chromium is not installed and this is not root: browser tests will be skipped." >&2
fi
