#!/usr/bin/env bash
# Thin wrapper around bench/static.py (see bench/README.md):
#   bench/static.sh [--quick] [--duration S] [--rounds N] [--setups percore,default] [--syscalls] ...
source "$(dirname "${BASH_SOURCE[0]}")/_wrap.sh" static.py "$@"
