#!/usr/bin/env bash
# Thin wrapper around bench/tls.py (see bench/README.md):
#   bench/tls.sh [--quick] [--duration S] [--rounds N] [--targets nginx,epoll,reactor] [--tests ...] ...
source "$(dirname "${BASH_SOURCE[0]}")/_wrap.sh" tls.py "$@"
