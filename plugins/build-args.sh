# Sourced by build-python.sh and build-js.sh, which take the same options:
#   [--test] [--force] [NAME...]  or  [--test] [--force] --dir PATH --out FILE
# Only how arguments are read lives here (it builds nothing, so it is not
# one of the sources a component is compared against). The sourcing script
# defines `usage` (its --help) first.

# parse_build_args TAG ARG...: sets run_tests, force, names, dir_arg and
# out_arg; a usage error prints `TAG: ...` and exits 2.
parse_build_args() {
    local tag=$1 arg
    shift
    run_tests=0
    force=0
    names=()
    dir_arg=""
    out_arg=""
    while [ $# -gt 0 ]; do
        arg=$1
        shift
        case $arg in
            --test) run_tests=1 ;;
            --force) force=1 ;;
            --dir | --out)
                [ $# -gt 0 ] || { echo "$tag: $arg needs a value" >&2; exit 2; }
                if [ "$arg" = --dir ]; then dir_arg=$1; else out_arg=$1; fi
                shift
                ;;
            --dir=*) dir_arg=${arg#--dir=} ;;
            --out=*) out_arg=${arg#--out=} ;;
            -h | --help) usage; exit 0 ;;
            -*) echo "$tag: unknown option $arg" >&2; exit 2 ;;
            *) names+=("$arg") ;;
        esac
    done
    if [ -n "$dir_arg" ] || [ -n "$out_arg" ]; then
        [ -n "$dir_arg" ] && [ -n "$out_arg" ] || { echo "$tag: --dir and --out go together" >&2; exit 2; }
        [ ${#names[@]} -eq 0 ] || { echo "$tag: --dir takes no NAME" >&2; exit 2; }
    fi
    return 0
}
