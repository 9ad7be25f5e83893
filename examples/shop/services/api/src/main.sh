echo "api running in $(cat /app/mode)"
