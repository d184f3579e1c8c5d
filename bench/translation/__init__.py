"""Image-to-image translation: domain-pair data, the small reference translators and their measures.

``data`` builds the paired and unpaired domain pairs (embedded digits tasks, folders); ``nets`` holds the zoo's
U-Net, PatchGAN and CycleGAN networks; ``measures`` the per-image L1/PSNR/SSIM/perceptual distances that the
translation metrics (``bench.metrics.translation``), the task kind and ``genbench score pairs|cycle`` share.
"""
