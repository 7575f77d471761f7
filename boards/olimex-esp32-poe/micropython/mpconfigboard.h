#ifndef MICROPY_HW_BOARD_NAME
#define MICROPY_HW_BOARD_NAME "branchgate Olimex ESP32-POE"
#endif
#define MICROPY_HW_MCU_NAME "ESP32"

// AES-CTR in cryptolib (hardware AES through mbedTLS) for the ESP data path.
#define MICROPY_PY_CRYPTOLIB_CTR (1)
