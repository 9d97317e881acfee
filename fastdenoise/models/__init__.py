"""Deep denoising networks (torch is imported only when a model is built)."""
