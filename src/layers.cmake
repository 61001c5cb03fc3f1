# The layers of src/: one library per folder and the folders it may use
# (cmake/layers.cmake builds them; tools/check_layers.sh checks the
# includes against this table; docs/architecture.md explains it).
# A folder may include its own headers and those of the folders it
# declares here, directly or through them; a folder is declared after
# everything it uses, so the table is a bottom-up order and has no loops.
# Line format (the check reads it): lr_layer(<folder> <folder it uses>...)

lr_layer(common)                                     # errors, files, MPI env, locks, signals, hashes, progress
lr_layer(method    common)                           # the LightReasoner method: KL, beta/alpha selection, soft labels (pure C)
lr_layer(io        common method)                    # HDF5 run file, shards, safetensors, model configs, problems
lr_layer(tokenizer common)                           # BPE, pre-tokenizer, chat templates (Jinja)
lr_layer(model     common io)                        # the decoder: backends, forward, generation, sampling, PEFT adapters read and applied
lr_layer(scorer    common io method model)           # the amateur's teacher-forced pass and the contrast of a chunk
lr_layer(sampler   common io method model tokenizer scorer) # the sampling stage: expert generation, MPI roles, resume
lr_layer(trainer   common io method model)           # LoRA training: data stream, backward, AdamW, checkpoints
lr_layer(inspect   common)                           # reading any HDF5 file for `inspect`
lr_layer(eval      common io model tokenizer)  # benchmarks, answer extraction, greedy evaluation (--adapter: model.h)
lr_layer(sweep     common io inspect)                # settings sweeps over run files
lr_layer(pipeline  common io eval inspect sampler trainer) # `run`: sampling, training and eval as one job
lr_layer(cli       common io eval inspect model pipeline sampler sweep tokenizer trainer) # the subcommands

# Known violations, allowed until their owners fix them:
# lr_layer_exception(<folder> <folder it may not use> "<why / who removes it>")
