// WAR / UAR / confusion matrix from label-prediction pairs.
export interface Metrics {
  n: number;
  accuracy: number;
  meanClassAccuracy: number;
  confusion: number[][];
  perClassAccuracy: (number | null)[];
}

export function computeMetrics(labels: ArrayLike<number>, preds: ArrayLike<number>, numClasses: number): Metrics {
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    confusion[labels[i]][preds[i]]++;
    if (labels[i] === preds[i]) correct++;
  }
  const perClassAccuracy = confusion.map((row, k) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total > 0 ? row[k] / total : null;
  });
  const present = perClassAccuracy.filter((a): a is number => a !== null);
  return {
    n: labels.length,
    accuracy: labels.length ? correct / labels.length : 0,
    meanClassAccuracy: present.length ? present.reduce((a, b) => a + b, 0) / present.length : 0,
    confusion,
    perClassAccuracy,
  };
}
