# branchgate on the ESP32-P4-Function-EV-Board: MicroPython's ESP32-P4 settings, this board's sdkconfig and the frozen firmware.
include(boards/mpconfigboard_esp32p4_common.cmake)

list(APPEND SDKCONFIG_DEFAULTS ${MICROPY_BOARD_DIR}/sdkconfig.board)

set(MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/manifest.py)
