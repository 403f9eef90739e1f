"""cnnkit.utils.data: datasets, samplers and the DataLoader (torch.utils.data's interfaces)."""
from ._worker import WorkerInfo, get_worker_info
from .dataloader import DataLoader, default_collate, default_convert
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset, Subset, TensorDataset,
                      random_split)
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)

__all__ = [
    "DataLoader", "default_collate", "default_convert", "get_worker_info", "WorkerInfo", "Dataset",
    "IterableDataset", "ChainDataset", "TensorDataset", "StackDataset", "Subset", "ConcatDataset", "random_split",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
    "BatchSampler",
]
