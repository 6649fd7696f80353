# Sourced by the benches' shell scripts: the server they start, stopped on
# exit (and by `stop_server` between runs). Set SERVER_PID after starting it.

SERVER_PID=

stop_server() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
}
