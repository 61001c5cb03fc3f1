# src/io: safetensors reader/writer and model config parsing.
# Goldens: tests/reference/make_safetensors_goldens.py -> tests/data/io/.
lr_add_c_test(test_safetensors test_safetensors.c)
lr_add_c_test(test_config test_config.c)
