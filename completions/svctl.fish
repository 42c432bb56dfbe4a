# fish completion for svctl (svinit's control client). Service names are
# asked of the running svinit (`svctl status --json`).

function __svctl_services
    set -l socket
    set -l tokens (commandline -opc)
    for i in (seq (count $tokens))
        if contains -- $tokens[$i] -s --socket; and test $i -lt (count $tokens)
            set socket -s $tokens[(math $i + 1)]
        end
    end
    svctl $socket status --json 2>/dev/null | string match -ar '"name":"[^"]*"' | string replace -r '^"name":"(.*)"$' '$1'
end

set -l commands status start stop restart kill reopen logs reload check events tree blame plot shutdown poweroff reboot halt
complete -c svctl -f
set -l global "not __fish_seen_subcommand_from $commands"
complete -c svctl -n $global -s s -l socket -r -F -d 'control socket'
complete -c svctl -n $global -s h -l help -d 'show help'
complete -c svctl -n $global -s V -l version -d 'show version'
set -l descriptions 'state of services' 'start and wait until up' 'stop and wait until down' \
    'restart and wait until up' 'send a signal to a service' 'reopen transcripts' \
    'recent output of services' 're-read the configuration' 'validate a configuration offline' \
    'state changes as JSON lines' 'dependency tree' 'start-up time of each service' \
    'stop every service and end svinit' 'power off (system mode)' 'reboot (system mode)' 'halt (system mode)'
for i in (seq (count $commands))
    complete -c svctl -n $global -a $commands[$i] -d $descriptions[$i]
end
complete -c svctl -n "__fish_seen_subcommand_from status start stop restart kill reopen logs tree" -a '(__svctl_services)'
complete -c svctl -n "__fish_seen_subcommand_from status" -l json -d 'stable JSON output'
complete -c svctl -n "__fish_seen_subcommand_from start stop restart" -l all -d 'every service'
complete -c svctl -n "__fish_seen_subcommand_from start stop restart shutdown" -l no-wait -d 'do not wait'
complete -c svctl -n "__fish_seen_subcommand_from start stop restart shutdown" -l timeout -x -d 'how long to wait'
complete -c svctl -n "__fish_seen_subcommand_from kill" -l group -d 'to its process group'
complete -c svctl -n "__fish_seen_subcommand_from logs" -s f -d follow
complete -c svctl -n "__fish_seen_subcommand_from logs" -s n -x -d lines
complete -c svctl -n "__fish_seen_subcommand_from reload" -l dry-run -d 'show what would change'
complete -c svctl -n "__fish_seen_subcommand_from check" -s c -r -F -d config
complete -c svctl -n "__fish_seen_subcommand_from events" -l since -x -d 'replay from sequence number'
complete -c svctl -n "__fish_seen_subcommand_from events" -l no-follow -d 'stop after the replay'
complete -c svctl -n "__fish_seen_subcommand_from tree" -l dot -d 'Graphviz output'
