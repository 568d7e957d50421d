"""uint8 images -> the network's outputs by name (:class:`~.outputs.NetworkOutputs`).

Preprocessing, the 2015 graph, its weights, the runner (precision, compile), the cache; DINOv2
ViT-L/14 (``dinov2``) and CLIP ViT-L/14@336 (``clip``) on the shared ViT pieces (``vit``), each with
its preprocessing and its weights declaration (``weights``).

This package imports nothing on its own, so that importing one of its modules stays cheap.
"""
