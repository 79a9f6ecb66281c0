#!/usr/bin/env bash
# Thin wrapper around bench/hello.py (see bench/README.md):
#   bench/hello.sh [--quick] [--duration S] [--rounds N] [--setups default,percore] ...
source "$(dirname "${BASH_SOURCE[0]}")/_wrap.sh" hello.py "$@"
