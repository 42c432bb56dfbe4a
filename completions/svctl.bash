# bash completion for svctl (svinit's control client).
# Service names are asked of the running svinit (`svctl status --json`).

_svctl_services() {
    local socket=("$@")
    svctl "${socket[@]}" status --json 2>/dev/null |
        grep -o '"name":"[^"]*"' | sed 's/^"name":"//; s/"$//'
}

_svctl() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi
    local commands="status start stop restart kill reopen logs reload check events tree blame plot shutdown poweroff reboot halt"
    local socket=() command="" i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -s | --socket) socket=(-s "${words[i + 1]}"); ((i++)) ;;
            -*) ;;
            *) command=${words[i]}; break ;;
        esac
    done
    case $prev in
        -s | --socket | -c) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        -n | --timeout | --since) return ;;
    esac
    if [ -z "$command" ]; then
        COMPREPLY=($(compgen -W "$commands -s --socket -h --help -V --version" -- "$cur"))
        return
    fi
    local options="" names=yes
    case $command in
        status) options="--json" ;;
        start | stop | restart) options="--all --no-wait --timeout" ;;
        logs) options="-f -n" ;;
        tree) options="--dot" ;;
        kill)
            # kill [--group] NAME SIGNAL: a signal once the name is there.
            options="--group"
            local args=0
            for ((i = i + 1; i < cword; i++)); do [[ ${words[i]} == -* ]] || ((args++)); done
            if [ "$args" -ge 1 ] && [[ $cur != -* ]]; then
                COMPREPLY=($(compgen -W "TERM KILL HUP INT QUIT USR1 USR2 STOP CONT WINCH ALRM" -- "$cur"))
                return
            fi
            ;;
        reopen) ;;
        reload) options="--dry-run"; names="" ;;
        check) options="-c"; names="" ;;
        events) options="--since --no-follow"; names="" ;;
        shutdown) options="--no-wait --timeout"; names="" ;;
        *) names="" ;;
    esac
    if [[ $cur == -* ]] || [ -z "$names" ]; then
        COMPREPLY=($(compgen -W "$options" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$(_svctl_services "${socket[@]}")" -- "$cur"))
    fi
}

complete -F _svctl svctl
