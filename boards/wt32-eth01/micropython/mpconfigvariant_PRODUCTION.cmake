# Production build: Ctrl-C disabled and the REPL unreachable (see boards/micropython-common/production/boot.py).
set(MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/../../micropython-common/manifest_production.py)

list(APPEND MICROPY_DEF_BOARD
    MICROPY_HW_BOARD_NAME="branchgate WT32-ETH01 (production)"
)
