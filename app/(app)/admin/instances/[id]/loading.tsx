import { Card, CardBody, CardHeader } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";

export default function AdminInstanceLoading() {
  return (
    <div className="space-y-6" aria-busy="true">
      <p role="status" className="text-sm text-slate-600">
        Loading the instance…
      </p>
      <Skeleton className="h-8 w-64" />
      <div className="grid gap-6 lg:grid-cols-2">
        {[0, 1].map((card) => (
          <Card key={card}>
            <CardHeader>
              <Skeleton className="h-5 w-32" />
            </CardHeader>
            <CardBody className="space-y-3">
              {Array.from({ length: 5 }, (_, index) => (
                <Skeleton key={index} className="h-5" />
              ))}
            </CardBody>
          </Card>
        ))}
      </div>
    </div>
  );
}
