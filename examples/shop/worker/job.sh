#!/bin/sh
echo "worker: processing jobs"
