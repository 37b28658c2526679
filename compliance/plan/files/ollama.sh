#!/bin/sh
export PATH="$PATH:/usr/local/bin"
